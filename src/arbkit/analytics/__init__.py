"""Analytics: DuckDB over the journal, the HTML report."""
