# Search the gateway's index over MCP with the official Python client (pip install mcp) and
# print the best hit's lines:  python3 examples/mcp_ask.py how are stale locks cleared
# CONTEXT_GATEWAY_URL (default http://127.0.0.1:8080) and GATEWAY_TOKEN as for the CLI.

import asyncio, os, sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

URL = os.environ.get("CONTEXT_GATEWAY_URL", "http://127.0.0.1:8080") + "/mcp"
TOKEN = os.environ.get("GATEWAY_TOKEN")


async def main(query):
    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with streamable_http_client(URL, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                print([tool.name for tool in (await session.list_tools()).tools])
                found = await session.call_tool("search_code", {"query": query, "limit": 1})
                if found.is_error or not found.structured_content["hits"]:
                    print("no hits:", found.content[0].text if found.content else "")
                    return
                hit = found.structured_content["hits"][0]
                print(hit["repo"], hit["path"], hit["start_line"], hit["commit"])
                text = await session.call_tool("read_file", {
                    "repo": hit["repo"], "path": hit["path"],
                    "start_line": hit["start_line"], "end_line": hit["end_line"]})
                print(text.structured_content["text"])


asyncio.run(main(" ".join(sys.argv[1:])))
