"""Subject folders (the native data format), importers and synthetic subjects.

Public surface: :class:`Subject` (load and read a folder), :class:`SubjectWriter` (stream frames
into a new one), :class:`FrameRecord` and :class:`SubjectError`.
"""

from nbskit.data.subject import FrameRecord, Subject, SubjectError, SubjectWriter

__all__ = ["FrameRecord", "Subject", "SubjectError", "SubjectWriter"]
