"""Reporting a review from its ledgers: the run history, the methods text and the page for co-authors.

``ledgers`` finds and opens ledgers read-only, ``history`` lists their runs,
``facts`` gathers what each stage did from the ledgers and the tables they point to,
``methods`` writes the methods text from those facts, and ``page`` the HTML report.
"""
