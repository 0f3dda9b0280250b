"""Reading the fenced code blocks of the docs pages."""
import re
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / 'docs'


def code_blocks(page: Path, language: str) -> List[str]:
    """The contents of the page's blocks fenced as ```<language>, in order."""
    text = page.read_text()
    return [m.group(1) for m in re.finditer(rf'^```{language}\n(.*?)^```', text,
                                            re.MULTILINE | re.DOTALL)]


def commands(page: Path) -> List[str]:
    """The command lines of the page's ```bash blocks (continuations joined, comments cut)."""
    lines = []
    for block in code_blocks(page, 'bash'):
        for line in block.replace('\\\n', ' ').splitlines():
            line = re.sub(r'\s+#.*$', '', line).strip()
            if line and not line.startswith('#'):
                lines.append(line)
    return lines
