from jinja2 import Environment, FileSystemLoader

templates = Environment(loader=FileSystemLoader("views"))


def page(name):
    return templates.get_template("page.html").render(name=name)
