"""How answers, summaries and briefings look: text, Markdown, HTML, Atom."""
