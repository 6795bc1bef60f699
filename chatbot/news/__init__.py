"""Summaries, daily briefings, feed subscriptions and the news desk that runs them."""
