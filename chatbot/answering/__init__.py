"""Questions into cited answers: retrieval, evidence, prompts, strategies, checks."""
