"""The kit's feature network, trained: what the perceptual losses and the kit scores use when
no ImageNet VGG16 is on disk (the network is :mod:`lessons_lib.models.features`, its loader
and scores :mod:`lessons_lib.metrics.features`).

* :mod:`.tasks` - :class:`~.tasks.FeatureNetTask` and its labelled images;
* :mod:`.recipes` - :class:`~.recipes.FeatureNetRecipe` (named ``feature_net``).
"""
