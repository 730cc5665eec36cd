"""Every path and method reaches one view guarded by the config's rules (for the parity test)."""

import os

from flask import Flask, g, jsonify

from authcheck.flask import Authcheck

app = Flask(__name__)
app.url_map.merge_slashes = False  # the guard, not a redirect, answers `//x`
auth = Authcheck(app, os.environ["AUTHCHECK_CONFIG"])
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@app.route("/", defaults={"anything": ""}, methods=METHODS)
@app.route("/<path:anything>", methods=METHODS)
@auth.requires_auth
def everything(anything: str):
    return jsonify(subject=g.auth.subject if g.auth else None)
