"""The MCP endpoint (`/mcp`, streamable HTTP, stateless): tools ``search``, ``fetch``, ``list_repositories``.

Built with the official SDK's ``MCPServer``. The same bearer keys as ``/v1`` (checked by ``KeyAuth`` before the
request reaches the SDK); each tool reads the key's workspace from the HTTP request it serves.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from lightfast_pipeline.keys.service import Principal
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.search.documents import DocumentNotFound, fetch_document
from lightfast_pipeline.search.hits import SearchFilters, filtered_search, hit_dict
from lightfast_pipeline.search.query import SearchError
from lightfast_pipeline.workspaces.queries import list_repositories

INSTRUCTIONS = (
    "Search and read the documentation indexed in one lightfast workspace (the API key's). Use `search` to find "
    "passages, `fetch` to read a whole document by the path a hit gave, `list_repositories` to see the sources."
)


def _principal(ctx: Context) -> Principal:
    request = ctx.request_context.request
    principal = request.scope.get("state", {}).get("principal") if request is not None else None
    if principal is None:
        raise ValueError("no API key on this request")
    return principal


def build_mcp(runtime: Runtime) -> tuple[StreamableHTTPASGIApp, StreamableHTTPSessionManager]:
    """The MCP ASGI endpoint and its session manager (whose ``run()`` must wrap the server's lifespan)."""
    server = MCPServer(name="lightfast", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    def search(
        query: str, ctx: Context, top_k: int = 5, repository: str | None = None, path_prefix: str | None = None
    ) -> list[dict[str, Any]]:
        """Search the workspace's documents: the best passage of each matching document, best first.

        Each hit has path, title, heading, snippet, score and repository. ``repository`` (OWNER/NAME) and
        ``path_prefix`` narrow the hits.
        """
        principal = _principal(ctx)
        filters = SearchFilters(repository=repository, path_prefix=path_prefix)
        try:
            result = filtered_search(runtime, query, principal.workspace_slug, top_k=top_k, filters=filters)
        except SearchError as error:
            raise ValueError(str(error)) from None
        return [hit_dict(hit) for hit in result.results]

    @server.tool()
    def fetch(path: str, ctx: Context, repository: str | None = None) -> dict[str, Any]:
        """A document's text by its path (as a search hit gave it), at the commit it was indexed at."""
        principal = _principal(ctx)
        try:
            document = fetch_document(runtime, principal.workspace_id, path, repository)
        except DocumentNotFound as error:
            raise ValueError(str(error)) from None
        return {
            "repository": document.repository,
            "path": document.path,
            "title": document.title,
            "commit": document.commit,
            "text": document.text,
            "truncated": document.truncated,
        }

    @server.tool(name="list_repositories")
    def list_repositories_tool(ctx: Context) -> list[dict[str, Any]]:
        """The workspace's connected repositories: name, source type, config status, documents."""
        principal = _principal(ctx)
        with runtime.session() as session:
            return [
                {
                    "name": repo.full_name,
                    "source_type": repo.source_type,
                    "config_status": repo.config_status,
                    "documents": repo.document_count,
                    "last_ingested_at": repo.last_ingested_at.isoformat() if repo.last_ingested_at else None,
                }
                for repo in list_repositories(session, principal.workspace_id)
            ]

    # The key, not the Host header, guards this endpoint: DNS rebinding gains nothing without a key.
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager
    return StreamableHTTPASGIApp(manager), manager
