#!/usr/bin/env python3
"""Example: ingest a document into a jambad session once, then resume it from a new process.

    resume_document.py --step ingest --server HOST:PORT --api-key KEY --session notes \\
        --document contract.txt --question "Who are the parties?"
    resume_document.py --step resume --server HOST:PORT --api-key KEY --session notes \\
        --question "When does it end?"

`ingest` creates the session, streams the file into it with progress and asks a question
without committing it; `resume` (any later process, even after a server restart) asks another
question of the stored session: its usage shows the document's tokens restored, not
recomputed. TLS: --ca FILE; mutual TLS: also --cert FILE --key FILE.
"""

from __future__ import annotations

import argparse
import sys

import jamba_client


def ask(client: jamba_client.Client, session: str, question: str) -> None:
    print(f"Q: {question}\nA:", end="", flush=True)
    with client.generate(
        session=session,
        text=f"\n\nQuestion: {question}\nAnswer:",
        max_tokens=48,
        temperature=0.7,
        seed=7,
    ) as stream:
        for delta in stream:
            print(delta.text, end="", flush=True)  # the answer as it is generated
    usage = stream.usage
    print(
        f"\n[{stream.finish_reason_name}; {usage.prompt_tokens} prompt tokens: "
        f"{usage.restored_tokens} restored, {usage.recomputed_tokens} computed; "
        f"{usage.completion_tokens} generated]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Ingest a document, then resume it later.")
    parser.add_argument("--step", choices=("ingest", "resume"), required=True)
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--api-key")
    parser.add_argument("--session", default="example-document")
    parser.add_argument("--document", help="the UTF-8 text file to ingest (--step ingest)")
    parser.add_argument("--question", default="What is this document about?")
    parser.add_argument("--ca", help="CA certificates (PEM) to verify the server: TLS")
    parser.add_argument("--cert", help="client certificate (PEM), for mutual TLS")
    parser.add_argument("--key", help="client private key (PEM), for mutual TLS")
    args = parser.parse_args()
    if args.step == "ingest" and not args.document:
        parser.error("--step ingest needs --document")

    client = jamba_client.Client(
        args.server,
        api_key=args.api_key,
        root_certificates=args.ca,
        certificate_chain=args.cert,
        private_key=args.key,
    )
    try:
        with client:
            if args.step == "ingest":
                client.create_session(args.session)
                session = client.append_file(
                    args.session,
                    args.document,
                    chunk_bytes=64 * 1024,
                    on_progress=lambda p: print(
                        f"  {p.bytes_received} bytes, {p.tokens_processed}/"
                        f"{p.tokens_received} tokens processed",
                        file=sys.stderr,
                    ),
                )
                print(f"ingested {session.name}: {session.token_count} tokens")
            else:
                session = client.get_session(args.session)
                print(f"resuming {session.name}: {session.token_count} tokens")
            ask(client, args.session, args.question)
    except jamba_client.JambaError as error:
        # The gRPC code and, when the server sent one, the stable reason to match on.
        print(
            f"error: {error.code.name}: {error.message} (reason: {error.reason})", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
