"""Where articles come from: files, folders, URLs, feeds, JSON; fetched safely."""
