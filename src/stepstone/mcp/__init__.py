"""``stepstone mcp``: the lab and the research method for agents, over the Model Context
Protocol (the official ``mcp`` SDK; ``pip install 'stepstone[mcp]'``). See docs/agents.md."""
