a0512AAAA
u a BC-US--Disaster-Aid 1stLd-Writethru 12-03 0398
^BC-US--Disaster-Aid, 1st Ld-Writethru,0398<
^Senate passes $95 billion disaster relief bill<
^Eds: UPDATES with vote count, House schedule. With AW Photos.<
^By JANE MILLER=
^Associated Wire Writer=
	   WASHINGTON (AW) _ The Senate passed a $95 billion disaster relief bill on Wednesday, sending aid to storm-hit states in the Southeast after a week of negotiations. 
	   The measure passed 71-27 and now goes to the House, where leaders said they would take it up on Friday. 
	   ``This is money that families are waiting for,'' said the bill's sponsor. Critics said the package lacked offsets. 
AW-WA-12-03-25 2114GMT<
