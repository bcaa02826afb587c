from provisioning.main import main

main()
