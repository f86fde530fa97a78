"""Topic rules: a boolean keyword query language, one matcher for all topics, explanations.

See the README's "Rule language" section for the syntax.
"""

from monitor.rules.evaluate import EvalReport, evaluate
from monitor.rules.matcher import (
    Classifier,
    Document,
    Hit,
    Tag,
    TopicResult,
    check_rules,
    compile_rules,
)
from monitor.rules.topic import TopicRule

__all__ = [
    "Classifier",
    "Document",
    "EvalReport",
    "Hit",
    "Tag",
    "TopicResult",
    "TopicRule",
    "check_rules",
    "compile_rules",
    "evaluate",
]
