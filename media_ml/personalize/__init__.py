"""Personalization: contextual bandits over a title's artwork candidates.

``Library.choose`` / ``reward`` / ``decisions`` / ``learn`` are the entry points; this package
holds the parts: ``features`` (member and arm features), ``policies`` (Vowpal Wabbit and
Thompson sampling), ``guardrails``, ``log`` (the decision log), ``snapshots`` (versioned policy
files), ``personalizer`` (the loop) and ``simulator`` (members with known true rewards).
"""

from media_ml.personalize.config import PersonalizeConfig, load_config, save_config
from media_ml.personalize.log import DecisionRecord
from media_ml.personalize.personalizer import Decision, LearnReport, Personalizer

__all__ = ["Decision", "DecisionRecord", "LearnReport", "PersonalizeConfig", "Personalizer",
           "load_config", "save_config"]
