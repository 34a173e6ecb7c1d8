"""A local stand-in for the Hugging Face Hub on 127.0.0.1, serving the repos of a cache built by
`hub_fixtures`, speaking the protocol `huggingface_hub` 1.x/2.x uses (read from its source):

    HEAD|GET /{repo}/resolve/{revision}/{path}
        small (git) files: 200, `ETag: "<git sha1>"`, `X-Repo-Commit`, `Content-Length`
        LFS files (weights): 302 to a CDN on another origin (a second server, also on 127.0.0.1), with
            `X-Linked-Etag: "<sha256>"`, `X-Linked-Size`, `X-Repo-Commit`, `Location` (what the Hub does)
        errors: 401 + `X-Error-Code: RepoNotFound` (unknown repo, or private without the token), 403 +
            `GatedRepo`,
            404 + `RevisionNotFound`, 404 + `EntryNotFound` (with `X-Repo-Commit`)
    GET /cdn/{sha256}                                         the LFS bytes
    GET /api/models/{repo}/tree/{revision}[/{path}]           the file listing (`HfApi.list_repo_files`)

Every request is recorded (`requests`), so tests can say which files were fetched.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hub_fixtures import LFS_THRESHOLD, etag_of, repo_folder


class HubServer:
    """Serves `cache`'s repos; `gated` repo ids answer 403 GatedRepo; `private` ones 401 RepoNotFound
    unless the request carries `Authorization: Bearer {TOKEN}`."""

    TOKEN = "hf_local_test_token"

    def __init__(self, cache: Path, *, gated: tuple[str, ...] = (), private: tuple[str, ...] = ()):
        self.cache, self.gated, self.private = Path(cache), set(gated), set(private)
        self.requests: list[tuple[str, str]] = []
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(self._hub_route))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(self._cdn_route))
        self.endpoint = f"http://127.0.0.1:{self._hub.server_address[1]}"
        self.cdn = f"http://127.0.0.1:{self._cdn.server_address[1]}"
        self._blobs: dict[str, Path] = {}

    def fetched(self) -> list[str]:
        """Paths of files whose bytes were sent (GETs of resolve URLs and of the CDN), in order."""
        return [path for method, path in self.requests if method == "GET" and "/api/" not in path]

    # ------------------------------------------------------------------------------- serving

    def _handler(self, route):

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                route(self, head=True)

            def do_GET(self):
                route(self, head=False)

            def log_message(self, *args):  # quiet
                pass

        return Handler

    def _send(self, handler, status: int, headers: dict, body: bytes = b"", head: bool = False) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def _error(self, handler, status: int, code: str, head: bool, extra: dict | None = None) -> None:
        self._send(handler, status, {"X-Error-Code": code, "X-Error-Message": code, **(extra or {})},
                   json.dumps({"error": code}).encode(), head)

    def _commit(self, repo_id: str, revision: str) -> str | None:
        repo = repo_folder(self.cache, repo_id)
        ref = repo / "refs" / revision
        commit = ref.read_text().strip() if ref.is_file() else revision
        return commit if (repo / "snapshots" / commit).is_dir() else None

    def _hub_route(self, handler, head: bool) -> None:
        path = unquote(urlsplit(handler.path).path)
        self.requests.append((handler.command, path))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "tree":
            return self._tree(handler, "/".join(parts[2:4]), parts[5], "/".join(parts[6:]), head)
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(handler, 404, "NotFound", head)
        repo_id, revision, file = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        if repo_id in self.gated:
            return self._error(handler, 403, "GatedRepo", head)
        authorized = handler.headers.get("Authorization") == f"Bearer {self.TOKEN}"
        if (repo_id in self.private and not authorized) or not repo_folder(self.cache, repo_id).is_dir():
            return self._error(handler, 401, "RepoNotFound", head)
        commit = self._commit(repo_id, revision)
        if commit is None:
            return self._error(handler, 404, "RevisionNotFound", head)
        target = repo_folder(self.cache, repo_id) / "snapshots" / commit / file
        if not target.is_file():
            return self._error(handler, 404, "EntryNotFound", head, {"X-Repo-Commit": commit})
        data = target.read_bytes()
        etag = etag_of(data)
        if len(data) >= LFS_THRESHOLD:  # LFS: the Hub redirects to its CDN with the linked metadata
            self._blobs[etag] = target
            return self._send(handler, 302, {"Location": f"{self.cdn}/cdn/{etag}", "X-Repo-Commit": commit,
                                             "X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))},
                              b"", head)
        self._send(handler, 200, {"ETag": f'"{etag}"', "X-Repo-Commit": commit,
                                  "Content-Type": "application/octet-stream"}, data, head)

    def _cdn_route(self, handler, head: bool) -> None:
        path = unquote(urlsplit(handler.path).path)
        self.requests.append((handler.command, path))
        blob = self._blobs.get(path.rsplit("/", 1)[-1])
        if blob is None:
            return self._send(handler, 404, {}, b"", head)
        data = blob.read_bytes()
        self._send(handler, 200, {"ETag": f'"{etag_of(data)}"', "Content-Type": "application/octet-stream"},
                   data, head)

    def _tree(self, handler, repo_id: str, revision: str, folder: str, head: bool) -> None:
        commit = self._commit(repo_id, revision) if repo_folder(self.cache, repo_id).is_dir() else None
        if commit is None:
            return self._error(handler, 404, "RevisionNotFound", head)
        root = repo_folder(self.cache, repo_id) / "snapshots" / commit
        entries = []
        for file in sorted(p for p in (root / folder).rglob("*") if p.is_file()):
            data = file.read_bytes()
            entries.append({"type": "file", "oid": etag_of(data), "size": len(data),
                            "path": str(file.relative_to(root))})
        self._send(handler, 200, {"Content-Type": "application/json"}, json.dumps(entries).encode(), head)

    # ------------------------------------------------------------------------------ lifetime

    @contextlib.contextmanager
    def running(self):
        threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self._hub, self._cdn)]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            for server in (self._hub, self._cdn):
                server.shutdown()
                server.server_close()
