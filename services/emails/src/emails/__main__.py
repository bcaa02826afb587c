from emails.main import main

main()
