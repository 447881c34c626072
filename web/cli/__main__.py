from farmtrace.web.cli import main

main()
