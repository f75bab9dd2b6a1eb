"""A package inside the attachment, imported as `from report.format import table`."""


def table(rows):
    width = max(len(row["name"]) for row in rows)
    return "\n".join(f"{row['name']:<{width}}  {row['count']:>5}" for row in rows)
