"""The console for people at work: cooperatives, labs, stations and the county operator."""

from flask import Blueprint, render_template

bp = Blueprint("console", __name__, url_prefix="/console")


@bp.get("/")
def home() -> str:
    return render_template("console/home.html")
