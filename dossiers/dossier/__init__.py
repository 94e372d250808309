"""The dossier of one account: everything a rep needs before the first touch (seed 003,
"The PQL dossier"), read with a fixed number of queries whatever the account's size.

Every section is a plain dict (or a list of them) for the template, read by the module of
its use case:

- ``scope``: who may open which dossier (``dossier_scope``): reps the accounts with an item
  in their pool (active, or claimed or closed by them), PMs and admins any account; PMs
  read only. Also the account's items and touches as the scope read them.
- ``overview``: the company, its ARR potential and anonymous visitors.
- ``usage``: product usage against the plan's limits, milestones, the 90-day trend.
- ``score``: the score breakdown, the route and why, the score history.
- ``touch_log``: the current item's touches, SLA and back-off clock.
- ``timeline``: signup to outcome, oldest first.
- ``people``: likely buyers with why, then the other users and what they did.
- ``play``: the recommended play and its filled first message.
- ``page``: the account sections (``account_sections_get``, which the page caches) and the
  rest of the page (``dossier_rest_get``), each read once; ``cache``: the cached parts' keys;
  ``parts``: the cached parts and the whole page (``page_get``); ``warm``: built ahead.
"""
