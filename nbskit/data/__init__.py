"""Subject folders (the native data format), importers and synthetic subjects.

Public surface: :class:`Subject` (load and read a folder), :class:`SubjectWriter` (stream frames
into a new one), :class:`Intrinsics`, :class:`FrameRecord` and :class:`SubjectError`.
"""

from nbskit.data.subject import FrameRecord, Intrinsics, Subject, SubjectError, SubjectWriter

__all__ = ["FrameRecord", "Intrinsics", "Subject", "SubjectError", "SubjectWriter"]
