"""Measurement tools: how accurate is the pipeline, against references, on real speech.

Nothing here changes what the pipeline does; ``asr`` only transcribes and scores.
Heavy libraries (the engines) are imported only when a system is actually run.
"""
