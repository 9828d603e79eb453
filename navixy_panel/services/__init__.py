"""Domain services: take an AsyncSession, never commit (the caller owns the unit of work).

One verb pattern: `get_<thing>` reads one (None, or `NotFound` where absence is a
refusal), `list_<things>` reads many, `create_`, `update_`, `delete_` write; the few
other verbs name what they do (`bind_gateway`, `lock_domain`, `rotate_passwords`,
and the rate counters' `hit`, `reserve`, `give_back`). They return domain values
(`domain/`), never ORM rows or a face's wire shapes.
"""
