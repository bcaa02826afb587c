from bookings.main import main

main()
