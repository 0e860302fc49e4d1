"""Text in, findings out: the rule matcher knows nothing of engines or databases.

``Detector.detect(utterances)`` takes timed text (from a transcript, an SMS
export, anything) and returns ``Finding`` objects; rules live in YAML files.
"""

from .matcher import Detector, Finding, TimedText, TimedWord, load_rules

__all__ = ["Detector", "Finding", "TimedText", "TimedWord", "load_rules"]
