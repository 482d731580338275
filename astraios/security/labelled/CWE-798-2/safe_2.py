import json
import psycopg2


def open_database(config_path):
    with open(config_path) as handle:
        settings = json.load(handle)
    return psycopg2.connect(**settings)
