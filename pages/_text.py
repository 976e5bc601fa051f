"""User text inside Streamlit Markdown: one escaping rule for every page.

Why: dataset, run, group and file names are user data. Streamlit renders ``st.caption``,
``st.error``, ``st.info``… as Markdown, so a name like ``[click me](https://evil.example)`` would
become a live link and ``**x**`` bold. Every page passes such names through :func:`plain`; HTML
is never enabled for user text.
"""

from __future__ import annotations

import re

__all__ = ["plain"]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&])")


def plain(text: object) -> str:
    """``text`` with Markdown and directive characters backslash-escaped, shown verbatim."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
