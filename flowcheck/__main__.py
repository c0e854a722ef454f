from flowcheck.cli.main import main

main()
