"""Alerts: routes decide what is owed, the outbox remembers it, channels deliver it.

The public surface is small: :class:`AlertPlanner` (the pipeline hook that owes
alerts in the article's transaction), :class:`Dispatcher` (sends what is due),
:class:`DigestRunner` (turns waiting stories into digests at cron times) and
:func:`open_channel`.
"""
