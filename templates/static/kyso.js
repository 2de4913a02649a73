/* kyso web view: a little progressive enhancement (the pages work without it).
 * The log's filter form submits itself when a select box changes. */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
	var forms = document.querySelectorAll("form[data-autosubmit]");
	for (var i = 0; i < forms.length; i++) {
		(function (form) {
			var selects = form.querySelectorAll("select");
			for (var j = 0; j < selects.length; j++)
				selects[j].addEventListener("change", function () { form.submit(); });
		})(forms[i]);
	}
});
