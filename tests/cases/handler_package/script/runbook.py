from pkg.stats import summary

def main(events, context):
    return summary(events["values"])
