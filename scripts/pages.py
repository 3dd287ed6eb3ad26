"""What the CI scripts read from HTML pages (Lakegate's and the emulator's)."""

import html.parser


class _Hidden(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.fields[a.get("name")] = a.get("value", "")


def hidden_fields(page):
    """The page's hidden form fields, by name."""
    p = _Hidden()
    p.feed(page)
    return p.fields
