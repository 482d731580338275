import jinja2

env = jinja2.Environment(loader=jinja2.PackageLoader("app"), autoescape=False)


def page(name):
    return env.get_template("page.html").render(name=name)
