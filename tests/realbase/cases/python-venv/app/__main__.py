import click
import idna
from packaging.version import Version


@click.command()
@click.option("--name", default="world", help="Who to greet.")
def main(name):
    host = idna.encode("bücher.example").decode()
    click.echo(f"hello {name} via {host}")
    click.echo(f"click {click.__version__} >= 8: {Version(click.__version__) >= Version('8')}")


if __name__ == "__main__":
    main()
