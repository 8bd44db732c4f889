"""Quarterly service-quality surveys (服务质量测评): one per customer and quarter, results per customer and period."""
