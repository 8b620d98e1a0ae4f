"""The unconditional GANs of lessons 01 and 11: the toy GAN on a ring of Gaussians and DCGAN.

* :mod:`.tasks` - :class:`~.tasks.ToyGANTask`, :class:`~.tasks.DCGANTask`, the mode metrics;
* :mod:`.recipes` - their recipe types (named ``gan_toy``, ``dcgan`` in :mod:`lessons_lib.recipes`).
"""
