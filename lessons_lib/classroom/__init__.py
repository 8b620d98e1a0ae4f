"""The classroom: run modes, the student edition, grading.

* :mod:`.modes` - ``LESSONS_MODE=smoke|class|full`` and :func:`start_lesson`, the first
  call of every lesson;
* :mod:`.editions` - the committed notebooks are the instructor edition; the student
  edition is made from them (``lessons course student OUT_DIR``);
* :mod:`.grading` - run a notebook and read every exercise's verdict
  (``lessons course grade NOTEBOOK...``);
* :mod:`.execute` - :func:`~.execute.notebook_client`, the one ``nbclient`` client that grading,
  the benchmarks and the course test execute notebooks with (issue 22's widget-cell stall
  fixed there; imported on use, not here, so that this package does not load nbclient).
"""
from .editions import EditionReport, solution_leaks, student_edition, write_student_edition
from .modes import MODES, LessonMode, lesson_mode, lesson_threads, lesson_times, start_lesson

__all__ = ["MODES", "LessonMode", "lesson_mode", "lesson_threads", "lesson_times", "start_lesson",
           "EditionReport", "student_edition", "write_student_edition", "solution_leaks"]
