a0530AAAA
b v BC-US--Disaster-Aid KILL 12-03 0041
^BC-US--Disaster-Aid, KILL<
^MANDATORY KILL<
^Eds: The story is withdrawn. The vote count was wrong. A substitute story will move shortly.<
	   The Associated Wire is withdrawing the story about the disaster relief bill. Make sure it is not published. 
AW-WA-12-03-25 2140GMT<
