def handler(events, context):
    return events["missing"]
