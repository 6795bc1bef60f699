"""Small helpers every stage uses: sentences (and the page furniture never quoted), dates,
tokens, files."""
