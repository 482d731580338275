from jinja2 import Environment, FileSystemLoader, select_autoescape

templates = Environment(loader=FileSystemLoader("views"), autoescape=select_autoescape(["html", "xml"]))


def page(name):
    return templates.get_template("page.html").render(name=name)
