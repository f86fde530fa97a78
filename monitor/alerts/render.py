"""Plain text and HTML renderings of a :class:`Message` (email, console, file).

Every stored string is escaped in HTML: titles and snippets come from the web.
"""

from __future__ import annotations

from html import escape

from monitor.alerts.message import Message, StoryItem, when


def subject(message: Message, template: str, digest_template: str) -> str:
    if message.kind == "test":
        return f"[newsmon] test message for {message.route}"
    if message.kind == "admin":
        return f"[newsmon] {message.note}"[:250]
    first = message.stories[0] if message.stories else None
    fields = {
        "title": first.title if first else "",
        "topics": ", ".join(first.topic_names) if first else "",
        "route": message.route,
        "source": first.outlets[0].name if first and first.outlets else "",
        "count": str(len(message.stories)),
    }
    chosen = digest_template if message.kind == "digest" else template
    return " ".join(chosen.format_map(fields).split())[:250]


def headline(message: Message) -> str:
    if message.kind == "test":
        return f"newsmon test message ({message.route}): {message.note}"
    if message.kind == "admin":
        return f"newsmon: {message.note}"
    if message.kind == "digest":
        span = f"since {when(message.since)}" if message.since else "so far"
        return f"{message.route}: {len(message.stories)} new stories {span}"
    story = message.stories[0]
    return f"{', '.join(story.topic_names) or message.route}: {story.title}"


def story_text(story: StoryItem) -> list[str]:
    lines = [story.title, story.url]
    outlets = ", ".join(o.name for o in story.outlets) or "unknown source"
    lines.append(f"{outlets} · {when(story.published)}")
    for topic in story.topics:
        terms = ", ".join(topic.terms)
        lines.append(f"{topic.name} ({topic.score:g}){': ' + terms if terms else ''}")
    if len(story.outlets) > 1:
        lines.extend(
            f"  also at {o.name}: {o.url}" for o in story.outlets[1:] if o.url != story.url
        )
    if story.snippet:
        lines.append(story.snippet)
    return lines


def plain_text(message: Message) -> str:
    lines = [headline(message), ""]
    if message.kind == "digest":
        for topic, stories in message.by_topic():
            lines.append(f"== {topic} ({len(stories)}) ==")
            for story in stories:
                lines.extend(story_text(story))
                lines.append("")
    else:
        for story in message.stories:
            lines.extend(story_text(story))
    if message.note and message.kind not in ("test", "admin"):
        lines.extend(["", message.note])
    return "\n".join(lines).rstrip() + "\n"


def _story_html(story: StoryItem) -> str:
    outlets = (
        ", ".join(f'<a href="{escape(o.url)}">{escape(o.name)}</a>' for o in story.outlets)
        or "unknown source"
    )
    topics = "".join(
        f"<li><b>{escape(t.name)}</b> ({t.score:g})"
        + (": " + ", ".join(f"<mark>{escape(term)}</mark>" for term in t.terms) if t.terms else "")
        + "</li>"
        for t in story.topics
    )
    return (
        f'<div style="margin:0 0 18px 0">'
        f'<div style="font-size:16px;font-weight:bold"><a href="{escape(story.url)}">'
        f"{escape(story.title)}</a></div>"
        f'<div style="color:#555;font-size:13px">{outlets} · {escape(when(story.published))}</div>'
        f'<ul style="margin:4px 0;padding-left:18px;font-size:13px">{topics}</ul>'
        f'<div style="font-size:14px">{escape(story.snippet)}</div></div>'
    )


def html(message: Message) -> str:
    parts = [
        '<!doctype html><html><body style="font-family:sans-serif;max-width:640px">',
        f'<p style="font-size:13px;color:#555">{escape(headline(message))}</p>',
    ]
    if message.kind == "digest":
        for topic, stories in message.by_topic():
            parts.append(f"<h3>{escape(topic)} ({len(stories)})</h3>")
            parts.extend(_story_html(s) for s in stories)
    else:
        parts.extend(_story_html(s) for s in message.stories)
    if message.note:
        parts.append(f'<p style="color:#555">{escape(message.note)}</p>')
    parts.append('<p style="color:#999;font-size:11px">sent by newsmon</p></body></html>')
    return "".join(parts)
