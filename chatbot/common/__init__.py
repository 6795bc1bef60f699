"""Small helpers every stage uses: sentences, dates, tokens, files."""
