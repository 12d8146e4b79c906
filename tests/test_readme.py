"""README's Python snippets run as printed."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_snippets_run():
    snippets = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert snippets, "README.md has no python snippet"
    for snippet in snippets:
        exec(compile(snippet, str(README), "exec"), {})
