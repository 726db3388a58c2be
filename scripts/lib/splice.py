"""splice.py FILE NAME COMMAND OUTPUT: put OUTPUT's text, with the command
and the date, between <!-- bench:NAME --> and <!-- /bench:NAME --> in FILE
(appending a section when the markers are missing)."""
import datetime, sys

path, name, command, output = sys.argv[1:5]
text = open(path, encoding="utf-8").read()
body = open(output, encoding="utf-8").read().rstrip()
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
block = (f"<!-- bench:{name} -->\nCommand: `{command}` — run {now} by `make bench`.\n\n"
         f"```\n{body}\n```\n<!-- /bench:{name} -->")
start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
if start in text and end in text:
    a = text.index(start)
    b = text.index(end) + len(end)
    text = text[:a] + block + text[b:]
else:
    text = text.rstrip() + f"\n\n## {name}\n\n" + block + "\n"
open(path, "w", encoding="utf-8").write(text)
