from mamori.cli.main import main

main()
