from audits.main import main

main()
