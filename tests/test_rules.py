"""The rule language: operators, folding, scripts, errors, explanations, evaluation."""

from __future__ import annotations

import json

import pytest

from monitor.errors import ConfigError, RuleSyntaxError
from monitor.rules import Document, Tag, TopicRule, check_rules, compile_rules, evaluate


def tagged(query: str, title: str = "", text: str = "", **rule) -> list[Tag]:
    rule.setdefault("threshold", 0)
    return compile_rules({"t": TopicRule(query=query, **rule)}).classify(Document(title, text))


def matches(query: str, text: str, title: str = "") -> bool:
    return bool(tagged(query, title, text))


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("nickel lithium", "nickel and lithium", True),  # adjacency is AND
        ("nickel lithium", "nickel only", False),
        ("nickel AND lithium", "lithium, then nickel", True),
        ("nickel OR cobalt", "only cobalt here", True),
        ("nickel NOT stainless", "nickel for stainless steel", False),
        ("nickel NOT stainless", "nickel for batteries", True),
        ("(nickel OR cobalt) AND Japan", "cobalt deal with Japan", True),
        ("(nickel OR cobalt) AND Japan", "cobalt deal with Korea", False),
        ('"battery plant"', "a new battery plant opens", True),
        ('"battery plant"', "a battery for the plant", False),
        ("batter*", "batteries and battery packs", True),
        ("batter*", "the batter hit it", True),
        ('"nickel smelter"~2', "nickel ore smelter", True),
        ('"nickel smelter"~2', "nickel is not what the distant smelter wants", False),
        ('"nickel smelter"~2', "the smelter for nickel", True),  # any order
        ("Japan NEAR/3 Indonesia", "Japan and Indonesia", True),
        ("Japan NEAR/3 Indonesia", "Indonesia signed with Japan", True),
        ("Japan NEAR/3 Indonesia", "Japan met many partners before going to Indonesia", False),
        ("smelter", "three smelters opened", True),  # plural folding
        ("battery", "new batteries", True),
        ("ministry", "both ministries", True),
    ],
)
def test_operators(query, text, expected):
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "matched"),
    [
        # Phrases are looked up by their longest word; what comes before it must still
        # be there, with a word boundary, and the hit must start where the phrase does.
        ('"e-bike"', "an e-bike maker", "e-bike"),
        ('"e-bike"', "a free-bike scheme", None),
        ('"e-bike"', "the bike lane", None),
        ('"e-bike"', "two E bikes", "E bikes"),
        ('"li-ion"', "cheap Li-ion cells", "Li-ion"),
        ('"li-ion"', "a million ions", None),
        ('"To Lam"', "General Secretary Tô Lâm visited", "Tô Lâm"),
        ('"rare earth magnet"', "rare–earths magnets plant", "rare–earths magnets"),
        ('"rare earth magnet"', "scarce earth magnets", None),
        ('"EU Japan summit"', "the 30th EU-Japan Summit", "EU-Japan Summit"),
        ('case:"EV maker"', "an EV maker and an ev maker", "EV maker"),
    ],
)
def test_phrases_match_where_they_start(query, text, matched):
    tags = tagged(query, text=text)
    if matched is None:
        assert tags == []
    else:
        assert [h.matched for h in tags[0].hits][:1] == [matched]


def test_fields_scope_terms_and_groups():
    assert matches('title:"EU-Japan"', "body", title="EU-Japan talks")
    assert not matches('title:"EU-Japan"', "EU-Japan talks in the body", title="Talks")
    assert matches("text:(nickel OR cobalt)", "cobalt here", title="nothing")
    assert not matches("text:(nickel OR cobalt)", "", title="cobalt in the title")


def test_case_sensitive_acronyms_and_word_boundaries():
    assert matches("case:EV", "the EV market")
    assert not matches("case:EV", "every ev owner")
    assert not matches("case:EU", "Eu is not the bloc")
    assert not matches("EU", "a neuter noun")  # word boundaries even without case:
    assert matches("EU", "the eu and japan")


def test_accent_width_and_hyphen_folding():
    assert matches("Sejourne", "Stéphane Séjourné said")
    assert matches("Séjourné", "SEJOURNE SAID")
    assert matches("EU", "ＥＵ summit")  # full-width
    for variant in ("EU-Japan", "EU–Japan", "EU Japan", "eu—japan"):
        assert matches('"EU-Japan"', f"the {variant} summit"), variant


def test_scripts_without_spaces_match_as_substrings():
    assert matches("蓄電池", "日本の蓄電池工場が稼働")
    assert matches("電気自動車 AND ニッケル", "電気自動車向けのニッケル")
    assert not matches("電気自動車", "ガソリン車の販売")


def test_explanations_point_at_the_matched_text():
    doc = Document("Nickel smelter opens", "Japan's Séjourné-style EU–Japan deal on batteries.")
    (tag,) = compile_rules(
        {"t": TopicRule(query='nickel AND (batter* OR "EU-Japan" OR Sejourne)', threshold=0)}
    ).classify(doc)
    assert tag.hits
    for hit in tag.hits:
        source = doc.title if hit.field == "title" else doc.text
        assert source[hit.start : hit.end] == hit.matched
    found = {(h.term, h.matched) for h in tag.hits}
    assert ("batter*", "batteries") in found and ("EU-Japan", "EU–Japan") in found
    assert ("Sejourne", "Séjourné") in found and ("nickel", "Nickel") in found
    assert "nickel (title@0)" in tag.explanation()
    assert Tag.from_json(json.loads(json.dumps(tag.to_json()))) == tag


def test_scores_weights_title_boost_and_threshold():
    body = tagged("nickel", text="nickel")[0].score
    title = tagged("nickel", title="nickel")[0].score
    assert body == 1.0 and title == 2.0
    assert tagged("nickel", title="nickel", title_boost=3)[0].score == 3.0
    assert tagged("nickel", text="nickel", weight=2.5)[0].score == 2.5
    assert tagged("nickel^3", text="nickel")[0].score == 3.0
    assert tagged("nickel", text="nickel", threshold=1.5) == []
    assert tagged("nickel OR cobalt", text="nickel cobalt", threshold=1.5)[0].score == 2.0
    assert tagged("nickel NOT cobalt", text="nickel")[0].score == 1.0


def test_languages_filter():
    rule = TopicRule(query="nickel", threshold=0, languages=["en"])
    classifier = compile_rules({"t": rule})
    assert classifier.classify(Document("", "nickel", "en"))
    assert not classifier.classify(Document("", "nickel", "id"))
    assert classifier.classify(Document("", "nickel", None))


@pytest.mark.parametrize(
    ("query", "column", "reason"),
    [
        ("nickel AND (cobalt OR", 22, "the query ends where a term was expected"),
        ('nickel AND "battery plant', 12, "unclosed quotation mark"),
        ("nickel ) cobalt", 8, "unbalanced ')'"),
        ("nickel OR OR cobalt", 11, "OR needs a term here"),
        ("place:Tokyo", 1, "unknown field 'place'"),
        ("NOT nickel", 1, "the query only excludes"),
        ("ba*", 1, "a prefix needs at least 3 letters"),
    ],
)
def test_syntax_errors_name_the_topic_and_column(query, column, reason):
    with pytest.raises(RuleSyntaxError) as caught:
        compile_rules({"metals": TopicRule(query=query)})
    error = caught.value
    assert (error.topic, error.column) == ("metals", column)
    assert reason in str(error)
    lines = str(error).splitlines()
    assert lines[0].startswith(f"topic 'metals', column {column}:")
    assert lines[2].index("^") - 2 == column - 1  # the caret sits under the column


def test_check_rules_reports_every_bad_topic():
    errors = check_rules(
        {"a": TopicRule(query="x ("), "b": TopicRule(query="fine"), "c": TopicRule(query='"y')}
    )
    assert [e.topic for e in errors] == ["a", "c"]


def test_one_matcher_serves_many_topics():
    topics = {f"t{i}": TopicRule(query=f"word{i} OR shared", threshold=0) for i in range(300)}
    classifier = compile_rules(topics)
    assert [t.topic for t in classifier.classify(Document("", "word7 only"))] == ["t7"]
    assert len(classifier.classify(Document("", "the shared word"))) == 300


def test_evaluate_counts_a_known_answer(tmp_path):
    labelled = tmp_path / "labels.jsonl"
    rows = [
        {"id": "1", "title": "Nickel deal", "text": "nickel", "labels": ["metals"]},  # tp
        {"id": "2", "title": "Cobalt", "text": "cobalt", "labels": ["metals"]},  # fn
        {"id": "3", "title": "Nickel", "text": "coin", "labels": []},  # fp
        {"id": "4", "title": "Weather", "text": "rain", "labels": [], "extra": "ignored"},  # tn
    ]
    labelled.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = evaluate(compile_rules({"metals": TopicRule(query="nickel")}), labelled)
    assert report.to_json() == {
        "topics": {
            "metals": {"tp": 1, "fp": 1, "fn": 1, "precision": 0.5, "recall": 0.5, "f1": 0.5}
        },
        "micro": {"tp": 1, "fp": 1, "fn": 1, "precision": 0.5, "recall": 0.5, "f1": 0.5},
    }
    assert sorted((e.id, e.expected) for e in report.errors) == [("2", True), ("3", False)]


def test_evaluate_rejects_unknown_topics_and_bad_lines(tmp_path):
    labelled = tmp_path / "labels.jsonl"
    labelled.write_text(
        json.dumps({"id": "1", "title": "", "text": "", "labels": ["ghost"]}) + "\n"
    )
    with pytest.raises(ConfigError, match="ghost"):
        evaluate(compile_rules({"metals": TopicRule(query="nickel")}), labelled)
    labelled.write_text('{"id": 1, "labels": []}\n{broken\n')
    with pytest.raises(ConfigError, match=r"labels.jsonl:2"):
        evaluate(compile_rules({"metals": TopicRule(query="nickel")}), labelled)
